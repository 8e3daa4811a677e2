// A compact flat button for message actions, with its accessible name given separately from
// its (short) visible text.
import QtQuick
import QtQuick.Controls

ToolButton {
    property string accessibleName: text
    font.pointSize: Qt.application.font.pointSize * 0.85
    padding: 4
    Accessible.name: accessibleName
    ToolTip.visible: hovered && accessibleName !== text
    ToolTip.text: accessibleName
    ToolTip.delay: 600
}
