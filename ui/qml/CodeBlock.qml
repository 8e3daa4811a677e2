// A fenced code block: its language, a Copy button and the code in the monospace font.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Rectangle {
    id: block
    property string code: ""
    property string language: ""
    property font fixedFont: Qt.application.font
    property bool copied: false

    objectName: "codeBlock"
    implicitHeight: layout.implicitHeight
    radius: 6
    color: palette.alternateBase
    border.color: palette.midlight
    Accessible.role: Accessible.Grouping
    Accessible.name: language.length > 0 ? qsTr("%1 code").arg(language) : qsTr("Code")

    ColumnLayout {
        id: layout
        width: parent.width
        spacing: 0

        RowLayout {
            Layout.fillWidth: true
            Layout.leftMargin: 10
            Layout.rightMargin: 4
            Label {
                Layout.fillWidth: true
                text: block.language.length > 0 ? block.language : qsTr("code")
                opacity: 0.7
                font.pointSize: Qt.application.font.pointSize * 0.85
                Accessible.name: qsTr("Language: %1").arg(text)
            }
            SmallButton {
                objectName: "copyCode"
                text: block.copied ? qsTr("Copied") : qsTr("Copy")
                accessibleName: qsTr("Copy code")
                onClicked: {
                    codeText.selectAll()
                    codeText.copy()
                    codeText.deselect()
                    block.copied = true
                    copiedReset.restart()
                }
            }
        }
        Rectangle { Layout.fillWidth: true; height: 1; color: palette.midlight }
        TextEdit {
            id: codeText
            Layout.fillWidth: true
            Layout.margins: 10
            text: block.code
            font: block.fixedFont
            textFormat: TextEdit.PlainText
            wrapMode: TextEdit.WrapAnywhere
            readOnly: true
            selectByMouse: true
            color: palette.text
            selectionColor: palette.highlight
            selectedTextColor: palette.highlightedText
            Accessible.role: Accessible.StaticText
            Accessible.name: block.code
        }
    }
    Timer { id: copiedReset; interval: 1500; onTriggered: block.copied = false }
}
