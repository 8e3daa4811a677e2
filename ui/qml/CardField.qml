// One "label: value" pair of the model card (two grid cells).
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Item {
    id: field
    property string label: ""
    property string value: ""
    Layout.columnSpan: 2
    Layout.fillWidth: true
    implicitHeight: row.implicitHeight
    implicitWidth: row.implicitWidth

    RowLayout {
        id: row
        anchors.fill: parent
        spacing: 8
        Label {
            text: field.label
            opacity: 0.7
            Layout.preferredWidth: fm.averageCharacterWidth * 14
            Accessible.name: text
        }
        Label {
            Layout.fillWidth: true
            text: field.value
            wrapMode: Text.Wrap
            font.bold: true
            Accessible.name: qsTr("%1: %2").arg(field.label).arg(field.value)
        }
    }
    FontMetrics { id: fm }
}
