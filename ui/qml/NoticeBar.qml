// A one-line notice above the messages (for example: the chat template failed and ChatML was
// used, or old messages were left out to fit the context), with a close button.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Rectangle {
    id: bar
    property alias text: label.text
    signal dismissed()
    color: Qt.rgba(palette.highlight.r, palette.highlight.g, palette.highlight.b, 0.15)
    implicitHeight: row.implicitHeight + 8

    RowLayout {
        id: row
        anchors.fill: parent
        anchors.leftMargin: 12
        anchors.rightMargin: 6
        Label {
            id: label
            Layout.fillWidth: true
            wrapMode: Text.Wrap
            Accessible.name: text
        }
        ToolButton {
            text: "✕"
            Accessible.name: qsTr("Dismiss notice")
            onClicked: bar.dismissed()
        }
    }
}
